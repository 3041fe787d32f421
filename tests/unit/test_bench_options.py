"""``python -m bench`` refuses malformed sizes before measuring anything."""

from __future__ import annotations

import pytest

from bench.__main__ import main


@pytest.mark.parametrize("argv", [["--tenants", "5"], ["--tenants", "5,x"], ["--tenant-scale", "0,10"],
                                  ["--only", "tenants,nope"]])
def test_malformed_sizes_are_refused_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m bench" in err and argv[0] in err
