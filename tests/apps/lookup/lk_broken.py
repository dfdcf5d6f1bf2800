"""App lookup fixture: importing this module fails inside."""

import lk_missing_dependency_xyz  # noqa: F401
