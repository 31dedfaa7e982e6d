"""docs/access-matrix.md is generated from the model and must not go stale."""

from roles import CAPABILITIES, matrix


def test_the_access_matrix_is_current(tmp_path):
    assert matrix.DEFAULT_PATH.read_text() == matrix.render(), (
        "docs/access-matrix.md is stale: run `python -m roles.matrix`"
    )


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "matrix.md"
    stale.write_text("old")
    assert matrix.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert matrix.main(["--output", str(stale)]) == 0
    assert matrix.main(["--check", "--output", str(stale)]) == 0


def test_the_matrix_names_every_level_and_route():
    text = matrix.render()
    assert "| capability | reader | contributor | model-approver | admin |" in text
    assert "| write-registry | - | - | yes | yes |" in text
    assert "`GET POST /graphql`" in text


def test_the_readme_shows_the_current_level_table():
    table = "\n".join(matrix.render().split("\n")[4:4 + 2 + len(CAPABILITIES)])
    readme = (matrix.DEFAULT_PATH.parent.parent / "README.md").read_text()
    assert table in readme, "README's level table is stale: copy it from docs/access-matrix.md"
