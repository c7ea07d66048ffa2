FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY db db
COPY workers workers
COPY schema schema
COPY resolvers resolvers
COPY settings settings
COPY servers servers
COPY cli cli
COPY auth auth
COPY frontend frontend
RUN pip install --no-cache-dir -e .
USER nobody
