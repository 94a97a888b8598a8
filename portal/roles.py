"""The five roles of Custos, as Django groups; one name each, used everywhere by constant."""

from enum import StrEnum


class Role(StrEnum):
    END_USER = "end user"
    API_USER = "api user"
    AUDITOR = "auditor"
    COMPLIANCE_OFFICER = "compliance officer"
    ADMIN = "admin"
