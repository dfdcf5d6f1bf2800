# One image for every app service of docker-compose.yml: the sample_proj
# workers, beat, the traffic generator and the console (`ctl`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TERM=xterm-256color \
    COLORTERM=truecolor

WORKDIR /app

# metadata first, then the packages: pyproject names README.md as the readme
COPY pyproject.toml README.md constraints.txt ./
COPY console ./console
COPY cli ./cli
COPY sample_proj ./sample_proj
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 1000 ctl \
    && mkdir -p /var/lib/celerybeat \
    && chown ctl:ctl /var/lib/celerybeat

USER ctl
CMD ["ctl", "--help"]
