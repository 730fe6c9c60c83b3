"""CSV import of customers and leads: upload, mapping, validation, all-or-nothing import."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from crm.extensions import db
from crm.models import AuditLog, CsvUpload, Customer, Lead, LeadStageHistory, UserRole
from tests import factories
from tests.helpers import Browser, run_job_here

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT

CUSTOMERS_CSV = (
    "Name,Company,E-mail,Industry,Owner email,City\n"
    "Ada Lovelace,Analytical Engines,ada@engines.example,Technology,{rep},London\n"
    "Grace Hopper,Navy Systems,grace@navy.example,Finance,,Arlington\n"
)


def upload(
    browser: Browser, kind: str, content: bytes | str, name: str = "file.csv", csrf: bool = True
):
    """POST a file as a browser does (the body built in memory: the test client's own
    spooling of large bodies to temporary files would leave them open)."""
    data = content.encode() if isinstance(content, str) else content
    form: dict[str, object] = {"file": FileStorage(io.BytesIO(data), name, "file", "text/csv")}
    if csrf:
        form["csrf_token"] = browser.token()
    body, length, boundary = stream_encode_multipart(form, use_tempfile=False)
    return browser.client.post(
        f"/admin/{kind}/import/",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def upload_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/import/(\d+)$", response.headers["Location"]).group(1))


def selected(page: str) -> list[str]:
    """The field chosen for each column of the mapping form, in column order."""
    chosen = []
    for select_html in re.findall(r'<select[^>]*name="column-\d+".*?</select>', page, re.S):
        match = re.search(r'<option value="(\w*)" selected', select_html)
        chosen.append(match.group(1) if match else "")
    return chosen


def submit(browser: Browser, kind: str, number: int, mapping: list[str], duplicates="skip"):
    """Submit the mapping; when it queues the import, run the job (as a worker would) and
    return the import's page as it then shows."""
    form = {f"column-{i}": target for i, target in enumerate(mapping)}
    form["duplicates"] = duplicates
    response = browser.post(f"/admin/{kind}/import/{number}", form)
    queued = re.search(r"/import/job/(\d+)$", response.headers.get("Location", ""))
    if queued is None:
        return response
    run_job_here(int(queued.group(1)))
    return browser.get(response.headers["Location"])


def problems(page: str) -> list[tuple[str, str, str]]:
    body = re.search(r'<table[^>]*id="import-problems".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, "no problem table on the page"
    return [
        tuple(re.sub(r"&#39;", "'", cell).strip() for cell in row)
        for row in re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", body[1])
    ]


def customers_named(*names: str) -> dict[str, Customer]:
    rows = db.session.scalars(select(Customer).where(Customer.name.in_(names)))
    return {row.name: row for row in rows}


def test_upload_previews_the_rows_and_guesses_the_mapping(browser: Browser, users):
    browser.login_as(users[MANAGER])
    number = upload_id(upload(browser, "customers", CUSTOMERS_CSV.format(rep="x@y.example")))
    page = browser.get(f"/admin/customers/import/{number}").get_data(as_text=True)
    assert selected(page) == ["name", "company", "email", "industry", "owner", "city"]
    assert "<td>Ada Lovelace</td>" in page and "<td>Arlington</td>" in page
    assert "2 rows, 6 columns" in page


def test_a_valid_file_imports_every_row_with_owners_and_audit(browser: Browser, users):
    rep, manager = users[REP], users[MANAGER]
    browser.login_as(manager)
    number = upload_id(upload(browser, "customers", CUSTOMERS_CSV.format(rep=rep.email)))
    mapping = ["name", "company", "email", "industry", "owner", "city"]
    response = submit(browser, "customers", number, mapping)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="import-done"' in page
    assert "Imported file.csv: 2 added, 0 updated,\n        0 duplicates skipped." in page
    made = customers_named("Ada Lovelace", "Grace Hopper")
    assert made["Ada Lovelace"].owner_id == rep.id  # by email
    assert made["Grace Hopper"].owner_id is None  # an empty owner cell: nobody
    assert made["Grace Hopper"].industry == "Finance" and made["Ada Lovelace"].city == "London"
    audited = db.session.scalars(
        select(AuditLog.user_id).where(
            AuditLog.table_name == "customers",
            AuditLog.record_id.in_([c.id for c in made.values()]),
        )
    ).all()
    assert audited == [manager.id, manager.id]
    kept = db.session.get(CsvUpload, number).settings["imported"]  # a rerun changes nothing
    assert (kept["added"], kept["updated"], kept["skipped"]) == (2, 0, 0)
    again = browser.get(f"/admin/customers/import/{number}")  # done: its result, not a form
    assert again.status_code == 302 and "/import/job/" in again.headers["Location"]


@pytest.mark.parametrize(
    ("role", "content", "mapping", "owner"),
    [
        (MANAGER, "Name\nNo Column Co\n", ["name"], "importer"),  # no Owner column: you
        (MANAGER, "Name,Owner\nEmpty Cell Co,\n", ["name", "owner"], None),  # empty: nobody
        (REP, "Name,Owner\nEmpty Cell Co,\n", ["name", "owner"], "importer"),  # reps own theirs
    ],
)
def test_who_owns_a_row_without_an_owner(browser: Browser, users, role, content, mapping, owner):
    importer = users[role]
    browser.login_as(importer)
    number = upload_id(upload(browser, "customers", content))
    assert 'id="import-done"' in submit(browser, "customers", number, mapping).get_data(
        as_text=True
    )
    name = content.split("\n")[1].split(",")[0]
    made = customers_named(name)[name]
    assert made.owner_id == (importer.id if owner == "importer" else None)


def test_a_file_with_errors_imports_nothing_and_reports_each(browser: Browser, users):
    browser.login_as(users[ADMIN])
    content = (
        "Name,Company,Email,Industry,Owner\n"
        "Good Row,Fine Co,good@fine.example,Retail,\n"  # line 2: valid
        ",No Name Co,,,\n"  # line 3
        "Bad Mail,Co,not-an-email,Farming,nobody@nowhere.example\n"  # line 4
        "Good Row,Fine Co,,,\n"  # line 5: repeats line 2
        "Extra,Co,,,,surplus\n"  # line 6
    )
    number = upload_id(upload(browser, "customers", content))
    page = submit(browser, "customers", number, ["name", "company", "email", "industry", "owner"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Nothing was imported: 6 problems to fix first." in text
    assert problems(text) == [
        ("3", "Name", "Name is required."),
        ("4", "Email", "'not-an-email' is not an email address like name@example.com."),
        ("4", "Industry", "'Farming' is not one of: Technology, Healthcare, Finance, Retail, "
         "Manufacturing, Education, Real Estate, Consulting, Other."),
        ("4", "Owner", "No active user has the email 'nobody@nowhere.example'."),
        ("5", "Name", "Same name and company as line 2."),
        ("6", "", "6 cells, but the header names 5 columns."),
    ]  # fmt: skip
    assert customers_named("Good Row", "Bad Mail", "Extra") == {}
    mapped = browser.get(f"/admin/customers/import/{number}").get_data(as_text=True)
    assert selected(mapped) == ["name", "company", "email", "industry", "owner"]  # kept

    report = browser.get(f"/admin/customers/import/{number}/problems.csv")
    lines = report.get_data(as_text=True).splitlines()
    assert report.mimetype == "text/csv" and lines[0] == "line,column,problem"
    assert lines[1] == "3,Name,Name is required." and len(lines) == 7


def test_a_required_field_must_be_mapped(browser: Browser, users):
    browser.login_as(users[ADMIN])
    number = upload_id(upload(browser, "customers", "Who,Where\nAda,London\n"))
    page = submit(browser, "customers", number, ["", "city"]).get_data(as_text=True)
    assert ("—", "Name", "Choose the column that holds Name.") in problems(page)
    assert customers_named("Ada") == {}


@pytest.mark.parametrize(
    ("duplicates", "city", "phone", "result"),
    [
        ("skip", "Oslo", "+47 1", "0 added, 0 updated, 1 duplicates skipped"),
        ("update", "Bergen", "+47 1", "0 added, 1 updated, 0 duplicates skipped"),
    ],
)
def test_existing_duplicates_are_skipped_or_updated(
    browser: Browser, users, duplicates, city, phone, result
):
    factories.customer(name="Dup Person", company="Dup Co", city="Oslo", phone="+47 1")
    browser.login_as(users[ADMIN])
    number = upload_id(
        upload(browser, "customers", "name,company,city,phone\nDup Person,Dup Co,Bergen,\n")
    )
    response = submit(
        browser, "customers", number, ["name", "company", "city", "phone"], duplicates
    )
    assert result in " ".join(response.get_data(as_text=True).split())
    (row,) = customers_named("Dup Person").values()
    db.session.refresh(row)
    assert (row.city, row.phone) == (city, phone)  # an empty cell keeps the old phone


def test_leads_resolve_customers_stages_and_owners(browser: Browser, users):
    customer = factories.customer(name="Lead Buyer", company="Buyer Co")
    factories.stage(name="Proposal", order_index=4)
    factories.stage(name="New", order_index=1)
    browser.login_as(users[MANAGER])
    content = (
        "Title,Customer,Company,Stage,Owner,Amount,Currency,Probability,Close date\n"
        f'Big deal,Lead Buyer,Buyer Co,proposal,{users[REP].email},"12,500.50",eur,60%,2027-03-31\n'
        "Default stage,,,,,,,,\n"
    )
    number = upload_id(upload(browser, "leads", content))
    page = browser.get(f"/admin/leads/import/{number}").get_data(as_text=True)
    mapping = selected(page)
    assert mapping == [
        "title", "customer_name", "customer_company", "stage", "owner", "amount", "currency",
        "probability", "expected_close_date",
    ]  # fmt: skip
    assert 'id="import-done"' in submit(browser, "leads", number, mapping).get_data(as_text=True)
    leads = {
        lead.title: lead
        for lead in db.session.scalars(
            select(Lead).where(Lead.title.in_(["Big deal", "Default stage"]))
        )
    }
    big = leads["Big deal"]
    assert (big.customer_id, big.stage.name, big.owner_id) == (
        customer.id,
        "Proposal",
        users[REP].id,
    )
    assert (str(big.amount), big.currency, big.probability) == ("12500.50", "EUR", 60)
    assert str(big.expected_close_date) == "2027-03-31"
    assert leads["Default stage"].stage.name == "New" and leads["Default stage"].currency == "USD"
    # Each imported lead entered its stage, by the manager who imported it (migration 0022).
    entered = db.session.execute(
        select(
            LeadStageHistory.lead_id, LeadStageHistory.to_stage_id, LeadStageHistory.changed_by
        ).where(LeadStageHistory.lead_id.in_([lead.id for lead in leads.values()]))
    ).all()
    assert sorted(entered) == sorted(
        (lead.id, lead.stage_id, users[MANAGER].id) for lead in leads.values()
    )


def test_lead_references_that_do_not_exist_are_reported(browser: Browser, users):
    factories.stage(name="New", order_index=1)
    browser.login_as(users[ADMIN])
    content = "title,customer,company,stage,probability\nX,Nobody,Nowhere,Won-ish,140\n"
    number = upload_id(upload(browser, "leads", content))
    mapping = ["title", "customer_name", "customer_company", "stage", "probability"]
    found = problems(submit(browser, "leads", number, mapping).get_data(as_text=True))
    assert ("2", "probability", "A percentage from 0 to 100.") in found
    assert ("2", "customer", "No customer 'Nobody' at 'Nowhere'.") in found
    assert any(
        line == "2" and column == "stage" and message.startswith("No stage 'Won-ish' (stages: New")
        for line, column, message in found
    )


def test_a_rep_imports_only_rows_they_own(browser: Browser, users):
    rep = users[REP]
    others = factories.customer(name="Not Yours", company="Other Co", owner_id=users[ADMIN].id)
    browser.login_as(rep)
    content = f"name,company,owner\nMine,Rep Co,\nTheirs,Rep Co,{users[ADMIN].email}\n"
    number = upload_id(upload(browser, "customers", content))
    found = problems(
        submit(browser, "customers", number, ["name", "company", "owner"]).get_data(as_text=True)
    )
    assert found == [
        ("3", "owner", "You can import only rows you own: leave Owner empty or use your email.")
    ]
    # A lead on someone else's customer: that customer is not found for them.
    number = upload_id(
        upload(browser, "leads", "title,customer,company\nSneaky,Not Yours,Other Co\n")
    )
    found = problems(
        submit(browser, "leads", number, ["title", "customer_name", "customer_company"]).get_data(
            as_text=True
        )
    )
    assert found == [("2", "customer", "No customer 'Not Yours' at 'Other Co'.")]
    # Neither file imported a row, not even the valid ones; the other customer is untouched.
    assert customers_named("Mine", "Theirs") == {}
    assert db.session.scalars(select(Lead).where(Lead.title == "Sneaky")).all() == []
    db.session.refresh(others)
    assert (others.name, others.owner_id) == ("Not Yours", users[ADMIN].id)

    # Without the other person's row, the rep's own row is imported, as theirs.
    number = upload_id(upload(browser, "customers", "name,company,owner\nMine,Rep Co,\n"))
    done = submit(browser, "customers", number, ["name", "company", "owner"])
    assert 'id="import-done"' in done.get_data(as_text=True)
    mine = customers_named("Mine", "Theirs")
    assert list(mine) == ["Mine"]
    assert (mine["Mine"].company, mine["Mine"].owner_id) == ("Rep Co", rep.id)


def test_a_rep_cannot_update_someone_elses_duplicate(browser: Browser, users):
    factories.customer(name="Shared Name", company="Shared Co", owner_id=users[ADMIN].id)
    browser.login_as(users[REP])
    number = upload_id(
        upload(browser, "customers", "name,company,city\nShared Name,Shared Co,Rome\n")
    )
    page = submit(browser, "customers", number, ["name", "company", "city"], "update")
    assert problems(page.get_data(as_text=True)) == [
        ("2", "name", "This record exists and belongs to someone else.")
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"   \n\n", "The file is empty"),
        (b"name,company\n", "The file has a header row but no data rows."),
        (b"PK\x03\x04\x14\x00\x06\x00", "This is an Excel workbook or another zip file, not a CSV"),
        (b"%PDF-1.7\n", "This is a PDF document, not a CSV file."),
        (b"n\x00a\x00m\x00e\x00", "This is not a text file (or it is UTF-16)."),
        # Past the first 4 KB too: a NUL reached PostgreSQL and failed the import (500).
        (b"name,city\n" + b"Ada,Paris\n" * 500 + b"Nul\x00,Oslo\n", "Line 502 holds a NUL"),
        ("name,city\nJos\xe9,M\xe1laga\n".encode("latin-1"), "The file is not UTF-8 text (line 2"),
        (b'name,city\n"unclosed,Oslo\nnext,row\n', "is not valid CSV"),
        (b"name,\nA,B\n", "The first line must name every column"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(browser: Browser, users, content, message):
    browser.login_as(users[ADMIN])
    before = db.session.scalar(select(func.count()).select_from(CsvUpload))
    response = upload(browser, "customers", content, "people.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    error = re.search(r'id="import-error">(.*?)</div>', page, re.S)
    assert (
        error and error[1].startswith("people.csv: ") and message in error[1].replace("&#34;", '"')
    )
    assert db.session.scalar(select(func.count()).select_from(CsvUpload)) == before


def test_no_file_chosen_says_so(browser: Browser, users):
    browser.login_as(users[ADMIN])
    page = browser.post("/admin/customers/import/", {}, content_type="multipart/form-data")
    assert "Choose a CSV file to upload." in page.get_data(as_text=True)


def test_an_oversized_file_is_refused_before_it_is_read(
    browser: Browser, users, app: Flask, monkeypatch
):
    monkeypatch.setitem(app.config, "IMPORT_MAX_MB", 1)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    browser.login_as(users[ADMIN])
    just_over = "name,company\n" + "x,y\n" * (1024 * 1024 // 4 + 10)
    response = upload(browser, "customers", just_over)
    assert "The file is 1.0 MB; imports take at most 1 MB." in response.get_data(as_text=True)
    way_over = upload(browser, "customers", "name\n" + "x" * (3 * 1024 * 1024))
    assert way_over.status_code == 302 and way_over.headers["Location"].endswith("/import/")
    page = browser.get("/admin/customers/import/").get_data(as_text=True)
    assert "The file is larger than 1 MB, the most an import takes." in page


def test_uploads_are_private_to_their_uploader(browser: Browser, make_browser, users):
    browser.login_as(users[ADMIN])
    number = upload_id(upload(browser, "customers", "name\nA\n"))
    other = make_browser()
    other.login_as(users[MANAGER])
    assert other.get(f"/admin/customers/import/{number}").status_code == 404
    assert other.get(f"/admin/customers/import/{number}/problems.csv").status_code == 404
    assert browser.get(f"/admin/leads/import/{number}").status_code == 404  # another kind


def test_support_cannot_import_and_the_list_shows_no_button(browser: Browser, users):
    browser.login_as(users[SUPPORT])
    assert browser.get("/admin/customers/import/").status_code == 403
    assert 'id="import-csv"' not in browser.get("/admin/customers/").get_data(as_text=True)
    assert upload(browser, "customers", "name\nA\n").status_code == 403


def test_the_list_links_to_the_import_and_a_template(browser: Browser, users):
    browser.login_as(users[REP])
    assert 'id="import-csv" href="/admin/leads/import/"' in browser.get("/admin/leads/").get_data(
        as_text=True
    )
    template = browser.get("/admin/leads/import/template.csv").get_data(as_text=True)
    assert template.startswith("Title,Description,Amount,Currency,Customer name,")


def test_upload_needs_a_csrf_token(browser: Browser, users):
    browser.login_as(users[ADMIN])
    response = upload(browser, "customers", "name\nA\n", csrf=False)
    assert response.status_code == 400


def test_the_problem_report_cannot_run_as_a_spreadsheet_formula(browser: Browser, users):
    browser.login_as(users[ADMIN])
    number = upload_id(upload(browser, "customers", 'name,=cmd|"/c calc"!A1\nA,x\n'))
    submit(browser, "customers", number, ["name", "industry"])
    report = browser.get(f"/admin/customers/import/{number}/problems.csv").get_data(as_text=True)
    assert "\n2,\"'=cmd" in report


def test_csv_export_writes_formulas_as_text(browser: Browser, users):
    factories.customer(name='=HYPERLINK("http://evil.example","Click")', company="Safe Co")
    browser.login_as(users[ADMIN])
    exported = browser.get("/admin/customers/export/csv/").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported)))
    names = [row[0] for row in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","Click")' in names
    assert not any(name.startswith("=") for name in names)
