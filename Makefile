.PHONY: serve test migrate lint format

serve:  ## run TopSmile on http://127.0.0.1:8000 (embedded PostgreSQL + Redis)
	python3 dev.py serve

test:   ## ruff, mypy and every test
	python3 dev.py test

migrate:
	uv run topsmile migrate

format:
	uv run ruff format . && uv run ruff check --fix .
