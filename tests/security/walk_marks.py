"""Values that must never reach anyone but participant A and A's instructors."""

SECRET_CODE = "SECRET_CODE_MARK_7f3a"
SECRET_LOG = "SECRET_LOG_MARK_c41d"
SECRET_FILE_NAME = "ada-secret-model.py"
PRIVATE_ACCURACY = 0.637291
