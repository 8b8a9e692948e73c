"""Elastic Beanstalk entry point: the WSGI callable `application`."""

from __future__ import annotations

from passport import create_app

application = create_app()
