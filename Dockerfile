# Image for the web server and the Celery workers (see docker-compose.yml).
# On a GPU host, pip's torch==2.13.0 wheel from PyPI brings CUDA; on a CPU-only host the same
# image runs on the CPU (EXPLAINERS_DEVICE=auto falls back).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY studyplatform ./studyplatform
COPY explainers ./explainers
COPY studies ./studies
COPY analysis ./analysis
RUN pip install .

COPY . .
RUN useradd --create-home --uid 1000 app && mkdir -p /data/media /app/var && chown -R app /data /app/var
USER app
EXPOSE 8000
# The access log names the path only: never the query string (recruiter ids) nor the referer, and
# participant codes in paths only as a hash (studyplatform/logredact.py).
CMD ["gunicorn", "studyplatform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", \
     "--preload", "--access-logfile", "-", \
     "--logger-class", "studyplatform.logredact.GunicornLogger", \
     "--access-logformat", "%(h)s %(t)s %(m)s %(U)s %(H)s %(s)s %(b)s %(M)sms"]
