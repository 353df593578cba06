"""Print pip constraints pinning every direct dependency (and the named extras) at the lowest version its
range in pyproject.toml allows: ``python .ci/lowest_constraints.py test ray > lowest.txt``.

`make test-lowest` installs with these, so both ends of every range are tried in CI: the default
`make test` resolves the newest allowed versions, this the oldest.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lowest(requirement: str) -> str:
    """``name==X`` for ``name[extras]>=X,<=Y``; a range without both ends is an error."""
    requirement = requirement.split(";")[0]  # no environment markers here
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    bound = re.search(r">=\s*([0-9][0-9A-Za-z.+-]*)", requirement)
    if bound is None:
        raise SystemExit(f"pyproject.toml: {requirement!r} has no lower bound (>=): every range needs both ends")
    if not re.search(r"<=?\s*[0-9]", requirement):
        raise SystemExit(f"pyproject.toml: {requirement!r} has no upper bound: every range needs both ends")
    return f"{name}=={bound.group(1)}"


def main(extras: list[str]) -> None:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    print("\n".join(sorted({lowest(r) for r in requirements}, key=str.lower)))


if __name__ == "__main__":
    main(sys.argv[1:])
