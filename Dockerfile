FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GEMPOOL_DATA_DIR=/data GEMPOOL_BIND=0.0.0.0:8000
WORKDIR /app
# Debian's Chromium for the refresh worker (Playwright drives it), Xvfb for running it headed.
RUN apt-get update && apt-get install -y --no-install-recommends chromium xvfb xauth fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
ENV GEMPOOL_REFRESH_CHROMIUM=/usr/bin/chromium
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY . .
RUN useradd --system --home /data gempool && mkdir -p /data && chown gempool /data
USER gempool
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py firstrun && exec gunicorn --config gempool_site/gunicorn.conf.py gempool_site.wsgi"]
