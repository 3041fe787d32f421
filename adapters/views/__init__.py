"""The read models' views, one module per backend: ``sqlite``, ``postgres``, ``memory``.

Each holds the audit trail's view, the analysts' view and the directory's view for its backend,
with eventsourcing's tracking row written in the same transaction. ``adapters/bootstrap.py`` picks the module.
"""
