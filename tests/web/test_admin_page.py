"""The admin status page: admins only (404 for everyone else), its sections and their refresh."""

import pytest

from app.blueprints.admin import SECTIONS


@pytest.fixture
def admin(make_user):
    return make_user(email="root@example.com", admin=True)


def test_everyone_but_an_admin_gets_404_everywhere_under_admin(app, client, login, make_user):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")]
    assert rules
    person = make_user(email="pat@example.com")

    def answers() -> set[int]:
        codes = set()
        for rule in rules:
            url = rule.rule.replace("<name>", "checks")
            url = (
                url.replace("<int:job_id>", "1")
                .replace("<job_id>", "x")
                .replace("<int:user_id>", "1")
            )
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                codes.add(client.open(url, method=method).status_code)
        return codes

    assert answers() == {404}  # signed out
    login(person)
    assert answers() == {404}  # signed in, not an admin


def test_the_page_shows_every_section_with_the_service_checks(client, login, admin):
    login(admin)
    page = client.get("/admin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name, section in SECTIONS.items():
        assert f'id="admin-{name}"' in html and section.title in html
    for service in ("Database", "Queue", "Storage"):
        assert service in html
    assert html.count("✓ OK") == 3
    again = client.get("/admin/sections/checks")
    assert again.status_code == 200 and 'hx-trigger="every 5s"' in again.get_data(as_text=True)
    assert client.get("/admin/sections/nothing").status_code == 404
