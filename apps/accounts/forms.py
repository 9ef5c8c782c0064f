from django import forms

from .models import Role


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user, or a new one to invite.")
    email = forms.EmailField(required=False, help_text="For a new user (optional).")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REVIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
