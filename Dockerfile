# syntax=docker/dockerfile:1
# Minsheng: build the release binary, then run it as a non-root user with the
# data directory as a volume.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that source edits reuse the cached layer.
COPY Cargo.toml Cargo.lock ./
# Every [[bin]] in Cargo.toml needs a file, or cargo refuses the manifest.
RUN mkdir -p src/bin/minsheng-load \
    && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > src/bin/minsheng-load/main.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/.fingerprint/minsheng-*
COPY src ./src
# Compiled in: migrations (sqlx::migrate!), the built-in calendar years, the
# starter word list and traditional→simplified table, the demo plan, the pages.
COPY migrations ./migrations
COPY config ./config
COPY calendar ./calendar
COPY plans ./plans
COPY web ./web
RUN cargo build --release --locked --bin minsheng

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin minsheng \
    && mkdir -p /data /app \
    && chown minsheng:minsheng /data
WORKDIR /app
COPY --from=build /src/target/release/minsheng /usr/local/bin/minsheng
# Calendar files an operator can replace or extend by mounting over /app/calendar;
# plan files for `minsheng import-plan`.
COPY calendar ./calendar
COPY plans ./plans
USER minsheng
VOLUME ["/data"]
# The identity secret (keys verified viewers' numbers): a file on the volume
# made on first start; in production give MINSHENG_IDENTITY_SECRET from the
# platform's secret store instead, so that a copy of /data alone opens nothing.
ENV DATABASE_URL=sqlite:///data/minsheng.db \
    MINSHENG_IDENTITY_SECRET_FILE=/data/identity.key \
    MINSHENG_LISTEN=0.0.0.0:8080 \
    MINSHENG_CALENDAR_DIR=/app/calendar \
    MINSHENG_LOG_FORMAT=json
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["minsheng"]
CMD ["serve"]
