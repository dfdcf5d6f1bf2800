"""``ctl``: the typer front end.  Thin: parse, call ``console.core``, format, exit."""
