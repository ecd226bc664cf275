# Type stubs for the parts of Flask-WTF the web side and the report stubs
# use; Flask-WTF ships no type information of its own.
from flask_wtf.csrf import CSRFProtect as CSRFProtect
from flask_wtf.form import FlaskForm as FlaskForm

__all__ = ["CSRFProtect", "FlaskForm"]
