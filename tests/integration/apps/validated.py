"""wsgi_basic.app wrapped in wsgiref's PEP 3333 validator: any server-side contract breach
raises AssertionError (-> 500 + traceback in the error log) or emits a WSGIWarning."""

import warnings
from wsgiref.validate import validator, WSGIWarning

from wsgi_basic import app as _app

warnings.simplefilter("always", WSGIWarning)

application = validator(_app)
