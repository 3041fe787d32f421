"""Pages people open: self-contained HTML (Jinja2, inline matplotlib SVG), each built from one
role-filtered read of the application and nothing else.

- ``engagement_report``: an engagement's progress report (sponsor, coachee or coach view).
- ``synthesis_note``: the periodic synthesis note, from the analyst API's released values.
- ``cohort_dashboard``: a cohort's dashboard, for its members and coach.

Needs the ``[pages]`` extra (jinja2, matplotlib).
"""
