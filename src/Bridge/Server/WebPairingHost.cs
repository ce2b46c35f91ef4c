using OspBridge.Osp.Auth;

namespace OspBridge.Bridge.Server;

/// <summary>
/// The bridge's <see cref="IOspPairingHost"/> for one pairing attempt started by <c>POST /api/devices/{id}/pair {}</c>:
/// the bridge is the PIN consumer, so <see cref="RequestPinAsync"/> waits for the PIN that the second
/// <c>POST … {"pin":"…"}</c> hands over with <see cref="SubmitPin"/>.
/// </summary>
internal sealed class WebPairingHost : IOspPairingHost
{
    private readonly Lock _gate = new();
    private TaskCompletionSource<string?>? _pin;
    private TaskCompletionSource _asked = NewSignal();

    /// <summary>Completes when the authentication asks for a PIN (the device is showing it now).</summary>
    public Task PinRequested
    {
        get { lock (_gate) return _asked.Task; }
    }

    /// <summary>The outcome reported by the authentication (null until it ended).</summary>
    public OspAuthenticationResult? Result { get; private set; }

    /// <summary>
    /// Hands <paramref name="pin"/> to the waiting authentication and returns a task that completes when it asks again
    /// (the text was not a PIN); false when no PIN is being asked for.
    /// </summary>
    public bool SubmitPin(string pin, out Task askedAgain)
    {
        lock (_gate)
        {
            askedAgain = Task.CompletedTask;
            if (_pin is null || !_asked.Task.IsCompleted) return false;
            var waiting = _pin;
            _pin = null;
            _asked = NewSignal();
            askedAgain = _asked.Task;
            waiting.TrySetResult(pin);
            return true;
        }
    }

    /// <summary>Gives up a waiting PIN request (the attempt is abandoned).</summary>
    public void Cancel()
    {
        lock (_gate) _pin?.TrySetResult(null);
    }

    /// <inheritdoc/>
    public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken) =>
        ValueTask.CompletedTask; // the bridge consumes; devices present

    /// <inheritdoc/>
    public async ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken)
    {
        TaskCompletionSource<string?> pin;
        lock (_gate)
        {
            pin = _pin = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _asked.TrySetResult();
        }
        using var reg = cancellationToken.Register(() => pin.TrySetResult(null));
        return await pin.Task.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken)
    {
        Result = result;
        return ValueTask.CompletedTask;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
