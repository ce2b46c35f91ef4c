using Microsoft.Extensions.Logging;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Bridge.Pairing;

/// <summary>
/// Finds one advertising agent with mDNS for the CLI's <c>&lt;peer&gt;</c> argument: a display name (case-insensitive),
/// a peer id, or a fingerprint prefix of at least <see cref="MinFingerprintPrefix"/> characters (docs/cli.md).
/// </summary>
internal static class PeerFinder
{
    /// <summary>Shortest fingerprint prefix accepted (shorter strings are only names and ids).</summary>
    public const int MinFingerprintPrefix = 6;

    /// <summary>
    /// True when <paramref name="agent"/> is what <paramref name="peer"/> names: its display or instance name, its id
    /// (<paramref name="idOf"/> of its fingerprint), or a prefix of its fingerprint.
    /// </summary>
    public static bool Matches(OspAgentInfo agent, string peer, Func<string, string>? idOf)
    {
        if (string.Equals(agent.DisplayName, peer, StringComparison.OrdinalIgnoreCase)) return true;
        string fp = agent.Txt.Fingerprint;
        if (idOf is not null && string.Equals(idOf(fp), peer, StringComparison.Ordinal)) return true;
        return peer.Length >= MinFingerprintPrefix && fp.StartsWith(peer, StringComparison.Ordinal);
    }

    /// <summary>
    /// Browses until an agent with at least one address satisfies <paramref name="match"/>; throws
    /// <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<OspAgentInfo> FindAsync(MdnsService mdns, Func<OspAgentInfo, bool> match, TimeSpan timeout, ILogger logger, CancellationToken cancellationToken) =>
        (await FindWithOthersAsync(mdns, match, timeout, logger, cancellationToken).ConfigureAwait(false)).Agent;

    /// <summary>As <see cref="FindAsync"/>, also returning every agent discovery saw by then (for the suspicious-agent rules).</summary>
    /// <param name="mdns">The mDNS service.</param>
    /// <param name="match">Which agent.</param>
    /// <param name="timeout">How long to browse.</param>
    /// <param name="logger">Discovery warnings.</param>
    /// <param name="cancellationToken">Gives up.</param>
    /// <param name="instanceHints">Instance names to ask for directly as well (the peer's name as typed or as last seen):
    /// answered at once, without the PTR answer's 20–120 ms delay (<see cref="OspAgentBrowser.StartAsync(IEnumerable{string}, CancellationToken)"/>).</param>
    public static async Task<(OspAgentInfo Agent, IReadOnlyList<OspAgentInfo> Seen)> FindWithOthersAsync(MdnsService mdns, Func<OspAgentInfo, bool> match, TimeSpan timeout, ILogger logger, CancellationToken cancellationToken,
        IEnumerable<string>? instanceHints = null)
    {
        using var browser = new OspAgentBrowser(mdns, logger);
        var found = new TaskCompletionSource<OspAgentInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnAgent(OspAgentInfo a)
        {
            if (a.Addresses.Count > 0 && match(a)) found.TrySetResult(a);
        }
        browser.AgentAdded += OnAgent;
        browser.AgentUpdated += OnAgent;
        await browser.StartAsync(instanceHints ?? [], cancellationToken).ConfigureAwait(false);
        foreach (var a in browser.Agents) OnAgent(a);
        var agent = await found.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        // Responders often send A and AAAA in separate packets: take the freshest addresses known now.
        var seen = browser.Agents;
        return (seen.FirstOrDefault(x => x.InstanceName == agent.InstanceName && x.Txt.Fingerprint == agent.Txt.Fingerprint) ?? agent, seen);
    }

    /// <summary>The instance name a display name is advertised under, as a one-element hint list (empty when it cannot be one).</summary>
    public static IReadOnlyList<string> HintFor(string? displayName)
    {
        if (string.IsNullOrWhiteSpace(displayName)) return [];
        return [OspInstanceName.FromDisplayName(displayName)];
    }
}
