# One image for every pixl process (workers, beat, Flower, the CLI).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py alembic.ini ./
COPY pixl ./pixl
COPY alembic ./alembic
RUN pip install --no-cache-dir -e .
COPY projects ./projects
ENV PIXL_PROJECTS_DIR=/app/projects PIXL_DATA_DIR=/data
ENTRYPOINT ["python", "-m", "pixl"]
