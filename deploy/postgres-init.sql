-- Run once by the postgres image on a new volume (compose.yaml): one
-- database per product, both owned by the compose user.
CREATE DATABASE coda;
CREATE DATABASE voyager;
