using Microsoft.Extensions.Logging;
using OspBridge.Osp.Auth;

namespace OspBridge.Bridge.Pairing;

/// <summary>
/// The CLI's <see cref="IOspPairingHost"/>: on the presenter (<c>ospbridge agent</c>) it prints
/// <c>PIN: &lt;grouped digits&gt;</c> on stdout, flushed (plus big digits and a QR code on a terminal); on the
/// consumer (<c>ospbridge pair</c>) it takes the PIN from <c>--pin</c> or one stdin line.
/// </summary>
internal sealed class ConsolePairingHost : IOspPairingHost
{
    private readonly TextWriter _output;
    private readonly bool _decorate;
    private readonly ConsolePrompts? _prompts;
    private readonly string? _pinOption;
    private readonly ILogger _logger;

    /// <summary>Creates a host writing PINs to <paramref name="output"/> and reading them through <paramref name="prompts"/>.</summary>
    /// <param name="output">Where a presented PIN goes (stdout).</param>
    /// <param name="decorate">Also draw big digits and a QR code (stdout is a terminal).</param>
    /// <param name="prompts">Where a consumer's PIN comes from; null: this side never types a PIN.</param>
    /// <param name="pinOption">A PIN given on the command line (used instead of reading).</param>
    /// <param name="logger">Logs the outcome (never the PIN).</param>
    public ConsolePairingHost(TextWriter output, bool decorate, ConsolePrompts? prompts, string? pinOption, ILogger logger)
    {
        _output = output;
        _decorate = decorate;
        _prompts = prompts;
        _pinOption = pinOption;
        _logger = logger;
    }

    /// <summary>The result of the last attempt that ended.</summary>
    public OspAuthenticationResult? LastResult { get; private set; }

    /// <inheritdoc/>
    public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken)
    {
        PinDisplay.Write(_output, pin.ToDisplayString(), pin.ToHexString(), _decorate);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken)
    {
        if (_prompts is null) return null;
        return await _prompts.ReadPinAsync(_pinOption, peer.DisplayName ?? peer.Fingerprint, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken)
    {
        LastResult = result;
        if (!result.IsAuthenticated && _logger.IsEnabled(LogLevel.Information))
            _logger.LogInformation("pairing with {Fingerprint} ended: {Failure} {Message}", peer.Fingerprint, result.Failure, result.Message);
        return ValueTask.CompletedTask;
    }
}
