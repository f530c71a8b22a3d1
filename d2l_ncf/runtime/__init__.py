"""The process the chapter runs in, below everything else: MXNet's CPU
arithmetic and NumPy interface, devices, signals and safe stopping,
standard streams, file locks and progress bars. Imports nothing of the
package above it."""
