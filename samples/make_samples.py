"""Regenerate the binary files of the bundled sample corpus.

Run from anywhere: ``python samples/make_samples.py``. The output is byte-for-byte
deterministic (fixed PDF dates, fixed zip timestamps in the .docx), so re-running it
does not create spurious diffs in version control.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docx
from fpdf import FPDF

CORPUS = Path(__file__).resolve().parent / "corpus"
# A fixed timestamp keeps the generated files reproducible.
FIXED_DATE = datetime(2025, 1, 15, 9, 0, 0, tzinfo=UTC)
ZIP_DATE = (2025, 1, 15, 9, 0, 0)
AUTHOR = "Northwind Cloud People Team"


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


# One list per PDF page: the gold questions refer to facts on specific pages.
HANDBOOK_PAGES: tuple[tuple[Section, ...], ...] = (
    (
        Section("Welcome to Northwind Cloud", (
            "This handbook explains how we work together at Northwind Cloud. It applies to all "
            "employees in every office. Contractors should follow the rules in their own agreement "
            "and ask their manager when something is unclear.",
            "Northwind Cloud was founded in 2016 and builds file collaboration software for design "
            "and engineering teams. We have offices in Rotterdam and Toronto, and about a third of "
            "our people work remotely.",
        )),
        Section("Working hours", (
            "Our standard working week is 40 hours. Core hours are 10:00 to 15:00 in your local "
            "time zone: please be available for meetings during core hours. Outside core hours you "
            "can plan your own day together with your team.",
            "Overtime must be agreed with your manager in advance. Extra hours can be taken back "
            "as time off within three months.",
        )),
    ),
    (
        Section("Annual leave", (
            "Full-time employees receive 25 days of paid annual leave per calendar year, in "
            "addition to the public holidays of their country. Part-time employees receive leave "
            "in proportion to their contract.",
            "You may carry over up to 5 unused leave days into the next year. Carried-over days "
            "must be used before 31 March, or they expire.",
            "Request leave in the HR portal at least two weeks in advance for periods longer than "
            "three days.",
        )),
        Section("Sick leave", (
            "Employees receive 10 days of paid sick leave per year. Tell your manager before 10:00 "
            "on the first day you are sick. A doctor's note is required after 3 consecutive sick "
            "days.",
        )),
        Section("Parental leave", (
            "Birth parents and adoptive parents receive 16 weeks of fully paid parental leave. "
            "Parental leave can be taken within the first 12 months after the birth or adoption.",
        )),
    ),
    (
        Section("Remote and hybrid work", (
            "Employees in hybrid roles may work remotely up to 3 days per week. Teams agree on at "
            "least one shared office day each week.",
            "Fully remote roles must be approved by the Vice President of the department. Fully "
            "remote employees are invited to the company offsite twice a year.",
        )),
        Section("Home office support", (
            "Every employee who works from home at least two days a week receives a one-time home "
            "office budget of EUR 600 for a desk, chair or monitor, plus an internet allowance of "
            "EUR 40 per month paid with the salary.",
        )),
        Section("Working from abroad", (
            "You may work from another country for up to 20 working days per calendar year. Tell "
            "the People team at least two weeks before you travel so they can check tax and "
            "insurance rules.",
        )),
    ),
    (
        Section("Equipment", (
            "New employees receive a laptop on their first day. Laptops are replaced every 3 "
            "years, or earlier if they break. Company devices must use full-disk encryption and "
            "automatic screen lock.",
        )),
        Section("Learning and development", (
            "Each employee has a learning budget of EUR 1,200 per calendar year for courses, "
            "conferences and books. Unused budget does not carry over.",
        )),
        Section("Purchases and expenses", (
            "Any single work purchase above EUR 500 needs approval from your manager before you "
            "buy it. Business travel has its own rules, which are described in the separate "
            "Travel and Expense Policy.",
        )),
    ),
    (
        Section("Code of conduct", (
            "We expect everyone to treat colleagues, customers and partners with respect. "
            "Harassment and discrimination are never acceptable.",
            "You can report a concern to your manager, to the People team, or anonymously through "
            "the ethics hotline at ethics.northwind.example. Reports are investigated within "
            "14 days and retaliation against people who report in good faith is forbidden.",
        )),
        Section("Leaving the company", (
            "The notice period is 1 month during the first two years of employment and 2 months "
            "after that. Return all company equipment on your last working day.",
        )),
    ),
)


def _new_pdf(title: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_author(AUTHOR)
    pdf.set_margins(20, 20, 20)
    # Page breaks are explicit so each fact stays on the page the gold set names.
    pdf.set_auto_page_break(auto=False)
    return pdf


def _write_section(pdf: FPDF, section: Section) -> None:
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, section.heading, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("Helvetica", "", 11)
    for paragraph in section.paragraphs:
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.ln(2)


def _footer(pdf: FPDF, label: str) -> None:
    pdf.set_y(-18)
    pdf.set_font("Helvetica", "I", 9)
    pdf.cell(0, 6, f"{label} - page {pdf.page_no()}", align="C")


def build_handbook() -> bytes:
    pdf = _new_pdf("Northwind Cloud Employee Handbook")
    for sections in HANDBOOK_PAGES:
        pdf.add_page()
        if pdf.page_no() == 1:
            pdf.set_font("Helvetica", "B", 20)
            pdf.cell(0, 12, "Employee Handbook", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 10)
            pdf.cell(0, 6, "Northwind Cloud - edition 2025", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
        for section in sections:
            _write_section(pdf, section)
        if pdf.get_y() > pdf.h - 25:
            raise ValueError(f"handbook page {pdf.page_no()} overflows")
        _footer(pdf, "Northwind Cloud Employee Handbook")
    return bytes(pdf.output())


def build_report() -> bytes:
    """A complete quarterly report; the corpus keeps only its first half."""
    pdf = _new_pdf("Northwind Cloud Q4 2024 Operations Report")
    pdf.set_auto_page_break(auto=True, margin=20)
    sections = (
        Section("Q4 2024 Operations Report", (
            "Revenue grew 18% quarter over quarter. Churn fell to 1.9% per month. The EU region "
            "reached 99.97% uptime and the US region 99.95%.",
        )),
        Section("Support", (
            "The support team closed 12,480 tickets. Median first response time was 38 minutes. "
            "Customer satisfaction was 94%.",
        )),
        Section("Infrastructure", (
            "Storage usage grew to 2.1 PB. The database cluster was upgraded without downtime. "
            "Two incidents affected customers; both were resolved within 2 hours.",
        )),
    )
    for _ in range(2):
        pdf.add_page()
        for section in sections:
            _write_section(pdf, section)
    return bytes(pdf.output())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps; python-docx stamps the current time."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def build_travel_policy() -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.title = "Travel and Expense Policy"
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1

    document.add_heading("Travel and Expense Policy", level=1)
    document.add_paragraph(
        "This policy covers business travel and travel-related expenses for all Northwind Cloud "
        "employees. It is owned by the Finance team and was last updated in January 2025."
    )

    document.add_heading("Booking travel", level=2)
    document.add_paragraph(
        "Book all flights, trains and hotels through the Northwind Travel Desk. Flights must be "
        "booked at least 14 days before departure unless the trip is urgent and approved by your "
        "manager."
    )
    for rule in (
        "Take the train instead of flying when the train journey is under 4 hours.",
        "Fly economy class on flights shorter than 6 hours.",
        "Premium economy is allowed on flights of 6 hours or longer; business class needs "
        "director approval.",
        "Use public transport or a taxi from the airport; rental cars need manager approval.",
    ):
        document.add_paragraph(rule, style="List Bullet")

    document.add_heading("Daily limits by city tier", level=2)
    document.add_paragraph(
        "Hotel and meal limits depend on the city you travel to. Amounts are per person and "
        "include taxes."
    )
    rows = (
        ("City tier", "Example cities", "Hotel per night", "Meals per day"),
        ("Tier 1", "London, New York, Tokyo", "EUR 220", "EUR 75"),
        ("Tier 2", "Berlin, Toronto, Madrid", "EUR 160", "EUR 55"),
        ("Tier 3", "All other cities", "EUR 110", "EUR 40"),
    )
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            table.cell(r, c).text = value

    document.add_heading("Claiming expenses", level=2)
    document.add_paragraph(
        "Submit your expense claim in the finance portal within 30 days after the trip ends. "
        "Receipts are required for every expense above EUR 25. Approved claims are reimbursed "
        "with the next monthly payroll."
    )
    document.add_paragraph(
        "When you use your own car for business trips, you are reimbursed EUR 0.30 per kilometre. "
        "Parking and tolls are reimbursed at cost."
    )
    document.add_heading("What is not reimbursed", level=2)
    for item in (
        "Alcohol, except at approved client dinners.",
        "Traffic and parking fines.",
        "Upgrades to a higher travel class that were not approved.",
        "Minibar and in-room movies.",
    ):
        document.add_paragraph(item, style="List Bullet")

    buffer = io.BytesIO()
    document.save(buffer)
    return _normalise_zip(buffer.getvalue())


def write(relative: str, data: bytes) -> None:
    path = CORPUS / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {relative} ({len(data):,} bytes)")


def main() -> None:
    write("handbook/employee-handbook.pdf", build_handbook())
    write("handbook/travel-expenses.docx", build_travel_policy())
    report = build_report()
    # Cutting the file in half drops the xref table and trailer: a realistic corrupt upload.
    write("broken/truncated-report.pdf", report[: len(report) // 2])


if __name__ == "__main__":
    main()
