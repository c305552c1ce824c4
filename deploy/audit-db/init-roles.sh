#!/bin/sh
# The audit store's two PostgreSQL roles and its database (docs/architecture.md, "Threat model").
# Run once by a superuser: by the postgres image when the audit-db volume is first initialised
# (compose.yaml mounts this file into /docker-entrypoint-initdb.d/), and by devstack/postgres.py for
# the test cluster.
#   audit_owner    owns the database and, once `gateway-audit migrate` ran, the store's tables and
#                  triggers (the migration role; not a superuser)
#   audit_service  the audit service's role: `gateway-audit migrate --runtime-role audit_service`
#                  grants it SELECT, INSERT and retention's UPDATE of three columns, nothing else
# The passwords come from the environment and reach the server as psql variables, quoted by psql:
# never on a command line, never pasted into the SQL.
set -e
: "${AUDIT_DB_OWNER_PASSWORD:?set AUDIT_DB_OWNER_PASSWORD}"
: "${AUDIT_DB_RUNTIME_PASSWORD:?set AUDIT_DB_RUNTIME_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv owner_password AUDIT_DB_OWNER_PASSWORD
\getenv runtime_password AUDIT_DB_RUNTIME_PASSWORD
CREATE ROLE audit_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE audit_service LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'runtime_password';
CREATE DATABASE audit OWNER audit_owner;
SQL
