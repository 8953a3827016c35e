"""Import every built-in scorer module so that it registers itself."""
import engine.scorers.fused  # noqa: F401
import engine.scorers.km  # noqa: F401
import engine.scorers.lstm  # noqa: F401
import engine.scorers.ne  # noqa: F401
import engine.scorers.ne_plus  # noqa: F401
import engine.scorers.pop  # noqa: F401
import engine.scorers.zs  # noqa: F401
