"""Form shapes for proving a pending link; the rules live in app/services/oauth_identities.py."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from app.services.accounts.passwords import MAX_LENGTH


class LinkPasswordForm(FlaskForm):
    password = PasswordField(
        "Your Linkarooie password", [DataRequired("Enter your password."), Length(max=MAX_LENGTH)]
    )
