"""Rewriting the results page keeps the hand-written notes at its end."""

from lsg_tf.reproduction import page_parts


def test_notes_of_the_replaced_page_are_kept(tmp_path):
    page = tmp_path / "README.md"
    assert page_parts.kept_notes(str(page)) == ""
    page.write_text("# old\n\n| table |\n\n## Notes on this run\n\n- a note\n- another\n\n")
    assert page_parts.kept_notes(str(page)) == "\n## Notes on this run\n\n- a note\n- another\n"
    page.write_text("# old\n\n## Notes elsewhere\n")
    assert page_parts.kept_notes(str(page)) == ""
