"""The Textual console (the only package that imports textual).

Build it with :func:`console.ui.app.create_app`.
"""
