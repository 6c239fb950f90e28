from tests.factories import DEFAULT_PASSWORD, UserFactory


def test_user_factory_makes_a_verified_user_who_can_sign_in(client, login):
    user = UserFactory()
    assert user.id and user.is_verified and not user.is_admin
    login(user, DEFAULT_PASSWORD)


def test_user_factory_variations(app):
    admin = UserFactory(admin=True, verified=False)
    provider_only = UserFactory(password=None)
    assert admin.is_admin and not admin.is_verified
    assert provider_only.password_hash is None
    assert admin.email != provider_only.email
