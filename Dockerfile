# The Tonle services (collector, analytics, line simulator with its edge agent) in one image.
# docker-compose.yml builds it and picks the service with its command, e.g.
#   tonle collector --config /etc/tonle/tonle.toml
# numpy and scipy install as wheels on amd64 and arm64 (a Raspberry Pi 4/5 with a 64-bit OS).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 tonle \
    && useradd --system --uid 10001 --gid tonle --home-dir /var/lib/tonle --no-create-home tonle \
    && mkdir -p /var/lib/tonle /etc/tonle \
    && chown tonle:tonle /var/lib/tonle

WORKDIR /src
# README.md* : pyproject.toml names it as the readme; the build only warns when it is missing.
COPY pyproject.toml README.md* ./
COPY tonle ./tonle
COPY edge_agent ./edge_agent
COPY collector ./collector
COPY analytics ./analytics
COPY firmware_sim ./firmware_sim
# The plant server image: collector, analytics, report and the simulated line (a gateway installs '.[edge]').
RUN pip install '.[server]' && rm -rf /src

USER tonle
WORKDIR /var/lib/tonle
CMD ["tonle", "--help"]
