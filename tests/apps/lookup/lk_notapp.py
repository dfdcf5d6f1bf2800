"""App lookup fixture: -A lk_notapp:VALUE names a non-app."""

VALUE = 1
