FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir .
ENV DJANGO_SETTINGS_MODULE=crm.settings PYTHONUNBUFFERED=1
EXPOSE 8000
