using System.Net;

namespace OspBridge.Osp.Auth;

/// <summary>The peer a pairing prompt is about.</summary>
/// <param name="Fingerprint">The peer's agent fingerprint (base64 SHA-256 of its SPKI).</param>
/// <param name="RemoteEndPoint">The peer's address.</param>
/// <param name="DisplayName">The peer's display name when known (unverified until authenticated).</param>
public sealed record OspPairingPeer(string Fingerprint, IPEndPoint? RemoteEndPoint, string? DisplayName);

/// <summary>
/// What the host of an agent (CLI, web UI, tests) does for PIN pairing: show the PIN on the presenter, ask the user
/// for it on the consumer, and learn the outcome. Called by <see cref="OspAuthentication.AuthenticateAsync"/>.
/// </summary>
public interface IOspPairingHost
{
    /// <summary>
    /// Shows <paramref name="pin"/> to the user (<see cref="OspPsk.ToDisplayString"/> and/or a QR code of
    /// <see cref="OspPsk.ToHexString"/>) until <see cref="PairingEndedAsync"/>. Should return promptly.
    /// </summary>
    ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the user for the PIN the peer shows. Returns the text typed (dashes and spaces allowed), or null when
    /// the user declined. <paramref name="cancellationToken"/> is cancelled when PIN entry times out or the
    /// attempt ends otherwise. Text that is not a PIN is asked for again (up to 3 times).
    /// </summary>
    ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken);

    /// <summary>The attempt ended (hide the PIN, report the result).</summary>
    ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken);
}
