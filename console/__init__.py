"""Operations console for Celery clusters.

``console.core`` is the cluster-access core (no Textual import, enforced by a
test); ``console.ui`` is the Textual application; ``console.demo`` runs the
embedded demo cluster.
"""

__version__ = "0.1.0"
