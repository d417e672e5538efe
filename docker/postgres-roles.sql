-- docker-compose.yml only, with its local-only passwords: the least-privilege logins of
-- migrations/1764401000000-AppRoles.ts. The api and the worker log in as members of the group roles,
-- which own nothing; the migrations run as the owner. Postgres runs this once, when its volume is new.
CREATE ROLE sentinel_api NOLOGIN;
CREATE ROLE sentinel_worker NOLOGIN;
CREATE ROLE sentinel_api_user LOGIN PASSWORD 'sentinel' IN ROLE sentinel_api;
CREATE ROLE sentinel_worker_user LOGIN PASSWORD 'sentinel' IN ROLE sentinel_worker;
