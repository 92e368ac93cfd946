"""Staff patient search on a clinic with 100,000 patients: query plans and latency.

    uv run python bench/patient_search.py [--patients 100000] [--runs 50]

Starts its own embedded PostgreSQL + Redis in a temp dir and migrates. Seeds one clinic with
`--patients` patients and a second clinic with a tenth as many (one INSERT … SELECT
generate_series each: varied Brazilian names, accents included, emails, mobile numbers, 5 %
inactive). Then, as the application role under row-level security (as the app runs):
1. prints `EXPLAIN (ANALYZE, BUFFERS)` of the page query of each representative search, and
   fails if a plan (page or count query) reads the patient table with a Seq Scan;
2. times each search through `patients.service.search` (count + first page of 20, one
   transaction), `--runs` times after 5 warm-ups, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg
from stores import fresh_stores

from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.patients.service import PatientFilter, search, search_queries

FIRST_NAMES = """Ana Maria Mariana Marcos Marcelo Márcia João Joana José Josefa Pedro Paulo Paula
Lucas Luana Luiz Luíza Gabriel Gabriela Rafael Rafaela Felipe Fernanda Bruno Beatriz Carlos
Carla Daniel Daniela Eduardo Érica Fábio Flávia Gustavo Helena Igor Isabela Juliana Leonardo
Larissa Mateus Natália Otávio Patrícia Ricardo Sofia Thiago Vitória Álvaro""".split()  # noqa: SIM905
LAST_NAMES = """Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa
Ribeiro Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento
Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana Teixeira
Araújo Cavalcanti Monteiro Moura Ávila""".split()  # noqa: SIM905
DOMAINS = ["gmail.com", "hotmail.com", "yahoo.com.br", "outlook.com", "uol.com.br"]


def _array(values: list[str]) -> str:
    """A SQL array literal of constants (no braces: they are Piccolo's placeholders)."""
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# Every generated value depends on g alone, so a run is reproducible. Phones stay unique
# per clinic: 7919 is coprime with 10^8, so the last 8 digits never repeat. Constant text
# only; the clinic id and the count are bound arguments.
SEED = f"""
INSERT INTO patient (clinic_id, first_name, last_name, email, phone, date_of_birth,
                     sms_opt_in, status)
SELECT {{}}, first, last,
       CASE WHEN g % 10 <> 0 THEN
           lower(translate(first || '.' || last, 'ÁáÂâÃãÉéÊêÍíÓóÔôÕõÚúÇç',
                                                 'AaAaAaEeEeIiOoOoOoUuCc'))
           || g || '@' || ({_array(DOMAINS)})[1 + g % {len(DOMAINS)}]
       END,
       CASE WHEN g % 8 <> 0 THEN
           '+55' || (11 + (g * 13) % 89) || '9' || lpad(((g * 7919) % 100000000)::text, 8, '0')
       END,
       date '1940-01-01' + (g * 37) % 29000,
       g % 3 = 0,
       CASE WHEN g % 20 = 0 THEN 'inactive' ELSE 'active' END
FROM (
    SELECT g,
           ({_array(FIRST_NAMES)})[1 + (g * 31) % {len(FIRST_NAMES)}] AS first,
           ({_array(LAST_NAMES)})[1 + (g * 17 + g / 97) % {len(LAST_NAMES)}] AS last
    FROM generate_series(1, {{}}) AS g
) AS s
"""  # noqa: S608

SEARCHES = [
    ("first-name prefix `mar`", PatientFilter(q="mar")),
    ('"first last" `maria oli`', PatientFilter(q="maria oli")),
    ("last-name prefix `gonç`", PatientFilter(q="gonç")),
    ("last-name prefix `ávi` (sorts last)", PatientFilter(q="ávi", status="active")),
    ("email prefix `joao.sou`", PatientFilter(q="joao.sou")),
    ("phone digits `+55 (21) 9123`", PatientFilter(q="+55 (21) 9123")),
    ("listing, status=active", PatientFilter(status="active")),
    ("listing, all statuses", PatientFilter()),
]


async def seed_clinic(patients: int) -> uuid.UUID:
    clinic = uuid.uuid4()
    async with db.tenant_transaction(clinic):
        await db.fetch(
            "INSERT INTO clinic (id, name, slug, timezone, currency, settings)"
            " VALUES ({}, {}, {}, 'America/Sao_Paulo', 'brl', jsonb_build_object())",
            clinic,
            f"Bench {patients}",
            f"bench-{clinic.hex[:12]}",
        )
        await db.fetch(SEED, clinic, patients)
    return clinic


async def explain(clinic: uuid.UUID, label: str, where: PatientFilter) -> None:
    """Print the page query's plan and the count's scans; exit if a search reads the table
    without an index (a listing's count reads the whole clinic, by index or not)."""
    count, page = search_queries(clinic, where, page=1, page_size=20)
    async with db.tenant_transaction(clinic):
        page_plan, count_plan = [
            "\n".join(
                row["QUERY PLAN"]
                for row in await db.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            )
            for sql, args in (page, count)
        ]
    scans = [line.strip() for line in count_plan.splitlines() if "Scan" in line]
    print(f"### {label}\n\n```\n{page_plan}\n```\n\ncount query: " + "; ".join(scans) + "\n")
    checked = [page_plan, count_plan] if where.q else [page_plan]
    for plan in checked:
        if "Seq Scan on patient" in plan or "Index" not in plan:
            raise SystemExit(f"{label}: the patient table is not read through an index")


async def timings(actor: Actor, where: PatientFilter, runs: int) -> tuple[list[float], int]:
    total = 0
    for _ in range(5):
        await search(actor, where, page=1, page_size=20)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        _, total = await search(actor, where, page=1, page_size=20)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    async with fresh_stores() as urls:
        await db.open_pool(urls.database_url)
        started = time.perf_counter()
        clinic = await seed_clinic(args.patients)
        await seed_clinic(args.patients // 10)
        seeded = time.perf_counter() - started
        owner = await asyncpg.connect(urls.database_migration_url)
        await owner.execute("VACUUM ANALYZE patient")
        await owner.close()
        print(f"Seeded {args.patients} + {args.patients // 10} patients in {seeded:.1f} s\n")
        for label, where in SEARCHES:
            await explain(clinic, label, where)
        actor = Actor(clinic, uuid.uuid4(), "receptionist")
        print("| search | matches | median ms | p95 ms | runs |\n|---|---|---|---|---|")
        for label, where in SEARCHES:
            samples, total = await timings(actor, where, args.runs)
            median, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[18]
            print(f"| {label} | {total} | {median:.2f} | {p95:.2f} | {args.runs} |")
        await db.close_pool()


if __name__ == "__main__":
    asyncio.run(main())
