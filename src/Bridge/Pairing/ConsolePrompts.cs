namespace OspBridge.Bridge.Pairing;

/// <summary>
/// The console side of pairing for the CLI: where the PIN comes from on the consumer (<c>ospbridge pair</c>) and
/// how a new peer is accepted on the presenter (<c>ospbridge agent</c>). Prompts go to stderr so stdout stays
/// machine-readable; reads come from the given reader (stdin in the CLI).
/// </summary>
internal sealed class ConsolePrompts : IDisposable
{
    private readonly TextReader _input;
    private readonly TextWriter _prompt;
    private readonly bool _interactive;
    private readonly SemaphoreSlim _inputLock = new(1, 1);

    /// <summary>Creates prompts over <paramref name="input"/>; <paramref name="interactive"/> = stdin is a terminal.</summary>
    public ConsolePrompts(TextReader input, TextWriter prompt, bool interactive)
    {
        _input = input;
        _prompt = prompt;
        _interactive = interactive;
    }

    /// <summary>Releases the input lock.</summary>
    public void Dispose() => _inputLock.Dispose();

    /// <summary>Prompts over the process's stdin/stderr (interactive when stdin is not redirected).</summary>
    public static ConsolePrompts ForConsole() => new(Console.In, Console.Error, !Console.IsInputRedirected);

    /// <summary>
    /// The PIN: <paramref name="pinOption"/> when given, else one line from the input (with a prompt on a terminal).
    /// Returns null when the input ended without a line.
    /// </summary>
    public async Task<string?> ReadPinAsync(string? pinOption, string peerName, CancellationToken cancellationToken)
    {
        if (!string.IsNullOrWhiteSpace(pinOption)) return pinOption.Trim();
        await _inputLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_interactive)
            {
                await _prompt.WriteAsync($"Enter the PIN shown by {peerName}: ").ConfigureAwait(false);
                await _prompt.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            string? line = await _input.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            return line?.Trim();
        }
        finally
        {
            _inputLock.Release();
        }
    }

    /// <summary>
    /// Whether a new (never paired) peer may start pairing: true with <paramref name="acceptAll"/>; else asks on a
    /// terminal; without a terminal the answer is no (a screenless agent needs <c>--accept-all</c>).
    /// </summary>
    public async Task<bool> ConsentAsync(bool acceptAll, string peerName, string peerId, string fingerprint, CancellationToken cancellationToken)
    {
        if (acceptAll) return true;
        return await ConfirmAsync($"Pair with '{peerName}' (id {peerId}, fp {fingerprint})? [y/N] ", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks a y/N <paramref name="question"/> on a terminal; without a terminal the answer is no.</summary>
    public async Task<bool> ConfirmAsync(string question, CancellationToken cancellationToken)
    {
        if (!_interactive) return false;
        await _inputLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _prompt.WriteAsync(question).ConfigureAwait(false);
            await _prompt.FlushAsync(cancellationToken).ConfigureAwait(false);
            string? line = await _input.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            return line is not null && (line.Trim().Equals("y", StringComparison.OrdinalIgnoreCase) || line.Trim().Equals("yes", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            _inputLock.Release();
        }
    }
}
