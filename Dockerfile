FROM python:3.11-slim
WORKDIR /srv/stele
COPY pyproject.toml README.md ./
COPY domain domain
COPY ledger ledger
COPY api api
COPY verifiers verifiers
RUN pip install --no-cache-dir .
ENV STELE_DATA_DIR=/var/lib/stele
VOLUME /var/lib/stele
ENTRYPOINT ["stele"]
