from __future__ import annotations

import pytest

from governance.inventory.reader import InventoryFileError, decode, read_table
from tests.governance.inventory.helpers import FILES, csv_to_xlsx, small_bytes

REQUIRED = ["agency", "use_case_name"]


def test_utf8_with_bom_is_detected_and_the_bom_is_not_part_of_the_first_header():
    table = read_table(small_bytes(), required_columns=REQUIRED)
    assert table.encoding == "utf-8-sig"
    assert table.headers[0] == "agency"


def test_utf8_without_bom_is_read_as_utf8():
    data = small_bytes()[3:]
    table = read_table(data, required_columns=REQUIRED)
    assert table.encoding == "utf-8"
    assert table.rows[0][1]["agency"] == "DOJ"


def test_windows_1252_file_with_the_header_on_the_second_line_is_read():
    table = read_table((FILES / "cp1252_header_row2.csv").read_bytes(), required_columns=REQUIRED)
    assert table.encoding == "windows-1252"
    assert table.header_row == 2
    rownum, first = table.rows[0]
    assert rownum == 3
    assert first["use_case_name"] == "Café résumé screening – “pilot”"
    assert first["agency_bureau"] == "Office of Naïve Analysis"


def test_quoted_cells_spanning_lines_stay_one_cell_and_row_numbers_are_spreadsheet_rows():
    table = read_table(small_bytes(), required_columns=REQUIRED)
    numbers = [n for n, _ in table.rows]
    # a blank line after the fifth record is skipped, not counted as a row
    assert numbers == [2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    assert table.blank_rows == 1
    assert table.rows[1][1]["use_case_name"] == "Document\nsummariser"


def test_xlsx_with_a_title_row_above_the_header_is_read():
    table = read_table(
        csv_to_xlsx(small_bytes(), title="Agency inventory"),
        filename="inv.xlsx",
        required_columns=REQUIRED,
    )
    assert table.encoding == "xlsx"
    assert table.header_row == 2
    assert len(table.rows) == 10


def test_semicolon_separated_file_is_read():
    table = read_table(
        (FILES / "custom.csv").read_bytes(), required_columns=["Division", "Project title"]
    )
    assert table.rows[0][1]["Project title"] == "Fraud scoring"


def test_a_file_without_the_expected_header_is_refused_with_the_column_names():
    with pytest.raises(InventoryFileError, match="agency, use_case_name"):
        read_table(b"a,b\n1,2\n", required_columns=REQUIRED)


def test_an_empty_file_is_refused():
    with pytest.raises(InventoryFileError, match="empty"):
        read_table(b"", required_columns=REQUIRED)


def test_bytes_that_are_not_utf8_fall_back_to_windows_1252():
    assert decode("naïve – ok".encode("cp1252")) == ("naïve – ok", "windows-1252")
