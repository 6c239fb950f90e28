"""Form shapes only (types, lengths, required); the rules live in app/services/users.py."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from app.services.accounts.passwords import MAX_LENGTH, MIN_LENGTH

EMAIL = [
    DataRequired("Enter your email address."),
    Length(max=320),
    Email("That email address does not look right.", check_deliverability=False),
]
NEW_PASSWORD = [
    DataRequired("Choose a password."),
    Length(
        min=MIN_LENGTH,
        max=MAX_LENGTH,
        message=f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters.",
    ),
]


class RegisterForm(FlaskForm):
    name = StringField("Your name", [DataRequired("Tell us what to call you."), Length(max=120)])
    email = EmailField("Email", EMAIL)
    password = PasswordField("Password", NEW_PASSWORD)


class LoginForm(FlaskForm):
    email = EmailField("Email", [DataRequired("Enter your email address."), Length(max=320)])
    password = PasswordField(
        "Password", [DataRequired("Enter your password."), Length(max=MAX_LENGTH)]
    )
    remember = BooleanField("Keep me signed in on this device")
    next = HiddenField()


class ForgotForm(FlaskForm):
    email = EmailField("Email", EMAIL)


class ResetForm(FlaskForm):
    password = PasswordField("New password", NEW_PASSWORD)


class ProfileForm(FlaskForm):
    name = StringField("Your name", [DataRequired("Tell us what to call you."), Length(max=120)])


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", [Length(max=MAX_LENGTH)])
    new_password = PasswordField("New password", NEW_PASSWORD)


class EmailForm(FlaskForm):
    new_email = EmailField("New email address", EMAIL)
    password = PasswordField("Current password", [Length(max=MAX_LENGTH)])


class TokenForm(FlaskForm):
    name = StringField("Token name", [DataRequired("Give the token a name."), Length(max=100)])
    # What the token may do (api_tokens.SCOPES); read and write ticked at first
    read = BooleanField("Read", default=True)
    write = BooleanField("Write", default=True)
    analytics = BooleanField("Analytics", default=False)


class ReauthForm(FlaskForm):
    password = PasswordField(
        "Your password", [DataRequired("Enter your password."), Length(max=MAX_LENGTH)]
    )
    next = HiddenField()


class DeleteAccountForm(FlaskForm):
    # What the person types to show they mean it: their handle (or email), never a checkbox.
    confirm_text = StringField(
        "Type it here to confirm", [DataRequired("Type it to confirm."), Length(max=320)]
    )
