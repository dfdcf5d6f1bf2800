"""The Textual console (the only package that imports textual).

Build it with :func:`console.ui.app.create_app`.

Frame rate: Textual paints changes on a timer, at most ``TEXTUAL_FPS`` times a
second (default 60: up to 16.7 ms between a change and its frame).  A
keystroke whose result comes back from the feed needs two frames (the echo,
then the filtered rows), so the console asks for 120 unless the environment
says otherwise; repaints stay driven by changes, so an idle console still
draws nothing.
"""

import os

os.environ.setdefault("TEXTUAL_FPS", "120")  # read once, when textual is first imported
