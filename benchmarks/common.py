"""What the bench scripts share: the machine they ran on."""
import os
import platform


def machine():
    """CPU count and kind, for a results file."""
    model = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f
                          if line.startswith('model name')), model)
    except OSError:
        pass
    return {'cpus': os.cpu_count(), 'processor': model,
            'machine': platform.machine()}
