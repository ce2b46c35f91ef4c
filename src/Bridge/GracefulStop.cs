using System.Runtime.InteropServices;

namespace OspBridge.Bridge;

/// <summary>
/// How a long-running command (<c>agent</c>, <c>serve</c>, <c>advertise</c>) learns that SIGTERM or SIGINT asked it to
/// stop: the signal is taken over (the runtime does not terminate the process) and <see cref="Token"/> is cancelled, so
/// the command sends its goodbyes and closes its connections before it exits.
/// </summary>
internal sealed class GracefulStop : IDisposable
{
    private readonly CancellationTokenSource _stopping;
    private readonly PosixSignalRegistration _sigterm;
    private readonly PosixSignalRegistration _sigint;

    /// <summary>Starts listening for SIGTERM/SIGINT; <see cref="Token"/> is also cancelled with <paramref name="cancellationToken"/>.</summary>
    public GracefulStop(CancellationToken cancellationToken)
    {
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
    }

    /// <summary>Cancelled by SIGTERM, SIGINT or the token given to the constructor.</summary>
    public CancellationToken Token => _stopping.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _stopping.Cancel();
    }

    /// <summary>Gives the signals back to the runtime.</summary>
    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stopping.Dispose();
    }
}
