using System.Collections.Concurrent;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Pairing;

/// <summary>
/// The CLI's <see cref="IOspConsentHost"/>. New peers: the suspicious-agent warnings go to stderr (always, also with
/// <c>--accept-all</c>), then the console prompt decides (<see cref="ConsolePrompts.ConsentAsync"/>). App grants: yes for
/// <c>--accept-all</c>, for a peer the user admitted in this process, and for a command whose command line named the
/// peer (<paramref name="commandLineNamesPeer"/>); otherwise a y/N prompt on a terminal, else no.
/// </summary>
/// <param name="prompts">The console prompts.</param>
/// <param name="acceptAll">The agent's <c>--accept-all</c>.</param>
/// <param name="commandLineNamesPeer">True for client commands (pair, chat, send, fetch): naming the peer is the user's grant.</param>
/// <param name="warnings">Where warnings go (stderr).</param>
internal sealed class ConsoleConsentHost(ConsolePrompts? prompts, bool acceptAll, bool commandLineNamesPeer, TextWriter warnings) : IOspConsentHost
{
    private readonly ConcurrentDictionary<string, bool> _admitted = new(StringComparer.Ordinal);

    /// <summary>Prints each warning as one stderr line <c>ospbridge: warning: …</c>.</summary>
    public void Warn(IEnumerable<OspSuspicion> suspicions)
    {
        lock (warnings)
        {
            foreach (var s in suspicions) warnings.WriteLine($"ospbridge: warning: {CliErrors.OneLine(s.Message)}");
            warnings.Flush();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<bool> ConfirmNewPeerAsync(OspConsentRequest request, CancellationToken cancellationToken)
    {
        Warn(request.Warnings);
        bool yes = prompts is not null
            ? await prompts.ConsentAsync(acceptAll, CliErrors.OneLine(request.DisplayName ?? "(unnamed)"), request.Id, request.Fingerprint, cancellationToken).ConfigureAwait(false)
            : acceptAll;
        if (yes) _admitted[request.Fingerprint] = true;
        return yes;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> ConfirmAppGrantAsync(OspGrantRequest request, CancellationToken cancellationToken)
    {
        if (acceptAll || commandLineNamesPeer || _admitted.ContainsKey(request.Fingerprint)) return true;
        if (prompts is null) return false;
        return await prompts.ConfirmAsync($"Let '{CliErrors.OneLine(request.App)}' use '{CliErrors.OneLine(request.DisplayName ?? request.Id)}' (id {request.Id})? [y/N] ", cancellationToken).ConfigureAwait(false);
    }
}
