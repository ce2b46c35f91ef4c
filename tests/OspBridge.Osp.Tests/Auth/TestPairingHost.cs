using OspBridge.Osp.Auth;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>A scripted user: records the PIN it is shown and answers PIN prompts with <see cref="Answer"/>.</summary>
internal sealed class TestPairingHost : IOspPairingHost
{
    public TaskCompletionSource<OspPsk> Shown { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<OspAuthenticationResult> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Func<CancellationToken, Task<string?>> Answer { get; set; } = _ => Task.FromResult<string?>(null);

    public int Prompts { get; private set; }

    public int ShowCount { get; private set; }

    /// <summary>A consumer that types what <paramref name="presenter"/> shows, changed by <paramref name="typo"/>.</summary>
    public static TestPairingHost TypingWhatIsShownBy(TestPairingHost presenter, Func<OspPsk, string>? typo = null) => new()
    {
        Answer = async ct =>
        {
            var pin = await presenter.Shown.Task.WaitAsync(ct);
            return typo is null ? pin.ToDisplayString() : typo(pin);
        },
    };

    public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken)
    {
        ShowCount++;
        Shown.TrySetResult(pin);
        return ValueTask.CompletedTask;
    }

    public async ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken)
    {
        Prompts++;
        return await Answer(cancellationToken);
    }

    public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken)
    {
        Ended.TrySetResult(result);
        return ValueTask.CompletedTask;
    }
}
