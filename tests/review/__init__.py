"""Tests of the webmaster's review: findings, approval, serving, and the job map's lint."""
