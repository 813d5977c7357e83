import './base.css';
import './widget.css';
import './dag.css';
import './show.css';
