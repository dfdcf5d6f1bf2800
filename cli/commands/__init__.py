"""One module per ``ctl`` command; each exports ``register(app)``."""
